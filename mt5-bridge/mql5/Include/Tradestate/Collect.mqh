//+------------------------------------------------------------------+
//|                                       Tradestate/Collect.mqh     |
//| Snapshots of the terminal as TsRecords, with MT5's own names     |
//| (ACCOUNT_MARGIN_FREE -> margin_free, POSITION_PRICE_OPEN ->      |
//| price_open, ...): the account (heartbeat), an open position, a   |
//| pending order, an order that is done (cancelled / filled) and a  |
//| closed position leg from its deals (History.mqh).                |
//|                                                                  |
//| Times: MT5 reports trade-server time; the contract wants UTC ms. |
//| A server time is shifted by the server's offset *at that time*   |
//| (today's offset corrected for daylight saving under the server's |
//| DST rule), so a position opened before a DST change keeps its    |
//| true open time.                                                  |
//+------------------------------------------------------------------+
#ifndef TRADESTATE_COLLECT_MQH
#define TRADESTATE_COLLECT_MQH

#include "Wire.mqh"
#include "History.mqh"

//--- Trade server time minus UTC now, rounded to 15 minutes (time zones are whole quarter hours).
long TsServerOffsetSeconds(void)
  {
   long offset=(long)TimeTradeServer()-(long)TimeGMT();
   return((long)MathRound(offset/900.0)*900);
  }

//--- A server time in ms as UTC ms.
long TsUtcMsc(const long server_msc,const int dst_rule)
  {
   return(TsHistoryUtcMsc(server_msc,TsServerOffsetSeconds(),(long)TimeGMT(),dst_rule));
  }

long TsNowMsc(void)
  {
   return((long)TimeGMT()*1000);
  }

//+------------------------------------------------------------------+
//| Heartbeat: AccountInfo* and TerminalInfo*                         |
//+------------------------------------------------------------------+
bool TsBuildInstance(TsRecord &r,const string ea_version)
  {
   r.Start(TS_KIND_INSTANCE);
   string server=AccountInfoString(ACCOUNT_SERVER);
   string currency=AccountInfoString(ACCOUNT_CURRENCY);
   if(AccountInfoInteger(ACCOUNT_LOGIN)==0 || server=="" || currency=="")
     {
      r.error="account not known yet (not logged in)";
      return(false);
     }
   r.Int("time_msc",TsNowMsc());
   r.Int("login",AccountInfoInteger(ACCOUNT_LOGIN));
   r.Text("server",server);
   string company=AccountInfoString(ACCOUNT_COMPANY);
   if(company!="")
      r.Text("company",company);
   r.Text("currency",currency);
   r.Int("leverage",AccountInfoInteger(ACCOUNT_LEVERAGE));
   r.Num("balance",AccountInfoDouble(ACCOUNT_BALANCE));
   r.Num("credit",AccountInfoDouble(ACCOUNT_CREDIT));
   r.Num("equity",AccountInfoDouble(ACCOUNT_EQUITY));
   r.Num("profit",AccountInfoDouble(ACCOUNT_PROFIT));
   r.Num("margin",AccountInfoDouble(ACCOUNT_MARGIN));
   r.Num("margin_free",AccountInfoDouble(ACCOUNT_MARGIN_FREE));
   r.Num("margin_level",AccountInfoDouble(ACCOUNT_MARGIN_LEVEL));
   r.Bool("connected",TerminalInfoInteger(TERMINAL_CONNECTED)!=0);
   r.Bool("trade_allowed",TerminalInfoInteger(TERMINAL_TRADE_ALLOWED)!=0);
   r.Int("ping_us",TerminalInfoInteger(TERMINAL_PING_LAST));
   r.Int("build",TerminalInfoInteger(TERMINAL_BUILD));
   r.Int("positions",PositionsTotal());
   r.Int("orders",OrdersTotal());
   if(ea_version!="")
      r.Text("ea_version",ea_version);
   return(r.error=="");
  }

//+------------------------------------------------------------------+
//| A position's deals, from the history (HistorySelectByPosition)   |
//+------------------------------------------------------------------+
int TsLoadDeals(const long position_id,TsDeal &deals[])
  {
   ArrayResize(deals,0);
   if(!HistorySelectByPosition(position_id))
      return(0);
   int total=HistoryDealsTotal();
   int n=0;
   ArrayResize(deals,total);
   for(int i=0;i<total;i++)
     {
      ulong deal=HistoryDealGetTicket(i);
      if(deal==0)
         continue;
      deals[n].ticket=deal;
      deals[n].order=(ulong)HistoryDealGetInteger(deal,DEAL_ORDER);
      deals[n].entry=HistoryDealGetInteger(deal,DEAL_ENTRY);
      deals[n].type=HistoryDealGetInteger(deal,DEAL_TYPE);
      deals[n].volume=HistoryDealGetDouble(deal,DEAL_VOLUME);
      deals[n].price=HistoryDealGetDouble(deal,DEAL_PRICE);
      deals[n].time_msc=HistoryDealGetInteger(deal,DEAL_TIME_MSC);
      deals[n].profit=HistoryDealGetDouble(deal,DEAL_PROFIT);
      deals[n].swap=HistoryDealGetDouble(deal,DEAL_SWAP);
      deals[n].commission=HistoryDealGetDouble(deal,DEAL_COMMISSION);
      deals[n].sl=HistoryDealGetDouble(deal,DEAL_SL);
      deals[n].tp=HistoryDealGetDouble(deal,DEAL_TP);
      deals[n].symbol=HistoryDealGetString(deal,DEAL_SYMBOL);
      deals[n].magic=HistoryDealGetInteger(deal,DEAL_MAGIC);
      deals[n].comment=HistoryDealGetString(deal,DEAL_COMMENT);
      n++;
     }
   ArrayResize(deals,n);
   return(n); // in the history's order; TsClosedFromDeals walks them by (time, ticket)
  }

//--- Sum of DEAL_COMMISSION over a position's deals.
double TsPositionCommission(const long position_id)
  {
   TsDeal deals[];
   int n=TsLoadDeals(position_id,deals);
   double commission=0.0;
   for(int i=0;i<n;i++)
      commission+=deals[i].commission;
   return(commission);
  }

//+------------------------------------------------------------------+
//| An open position (selects it)                                    |
//+------------------------------------------------------------------+
bool TsBuildOpenTrade(TsRecord &r,const ulong ticket,const double commission,const int dst_rule)
  {
   r.Start(TS_KIND_TRADE);
   if(!PositionSelectByTicket(ticket))
     {
      r.error="position "+TsULongToString(ticket)+" is not open";
      return(false);
     }
   r.Text("ticket",TsULongToString(ticket));
   r.Int("time_msc",TsUtcMsc(PositionGetInteger(POSITION_TIME_MSC),dst_rule));
   r.Int("time_update_msc",TsUtcMsc(PositionGetInteger(POSITION_TIME_UPDATE_MSC),dst_rule));
   r.Text("symbol",PositionGetString(POSITION_SYMBOL));
   r.Text("type",PositionGetInteger(POSITION_TYPE)==POSITION_TYPE_BUY ? "buy" : "sell");
   r.Num("volume",PositionGetDouble(POSITION_VOLUME));
   r.Num("price_open",PositionGetDouble(POSITION_PRICE_OPEN));
   r.Num("price_current",PositionGetDouble(POSITION_PRICE_CURRENT));
   r.Num("sl",PositionGetDouble(POSITION_SL));
   r.Num("tp",PositionGetDouble(POSITION_TP));
   r.Num("profit",PositionGetDouble(POSITION_PROFIT));
   r.Num("swap",PositionGetDouble(POSITION_SWAP));
   r.Num("commission",commission);
   r.Int("magic",PositionGetInteger(POSITION_MAGIC));
   string comment=PositionGetString(POSITION_COMMENT);
   if(comment!="")
      r.Text("comment",comment);
   r.Text("state","open");
   return(r.error=="");
  }

//+------------------------------------------------------------------+
//| Orders                                                           |
//+------------------------------------------------------------------+
//--- A pending order's wire type (ORDER_TYPE_*, lower case, prefix dropped); "" for the market
//--- orders (buy, sell, close by) that only pass through the order list while they execute.
string TsOrderTypeName(const long type)
  {
   switch((int)type)
     {
      case ORDER_TYPE_BUY_LIMIT:
         return("buy_limit");
      case ORDER_TYPE_SELL_LIMIT:
         return("sell_limit");
      case ORDER_TYPE_BUY_STOP:
         return("buy_stop");
      case ORDER_TYPE_SELL_STOP:
         return("sell_stop");
      case ORDER_TYPE_BUY_STOP_LIMIT:
         return("buy_stop_limit");
      case ORDER_TYPE_SELL_STOP_LIMIT:
         return("sell_stop_limit");
     }
   return("");
  }

//--- A pending order of the order list (selects it).
bool TsBuildPendingOrder(TsRecord &r,const ulong ticket,const int dst_rule)
  {
   r.Start(TS_KIND_TRADE);
   if(!OrderSelect(ticket))
     {
      r.error="order "+TsULongToString(ticket)+" is not in the order list";
      return(false);
     }
   string type=TsOrderTypeName(OrderGetInteger(ORDER_TYPE));
   if(type=="")
     {
      r.error="order "+TsULongToString(ticket)+" is not a pending order";
      return(false);
     }
   long setup=OrderGetInteger(ORDER_TIME_SETUP_MSC);
   long done=OrderGetInteger(ORDER_TIME_DONE_MSC);
   r.Text("ticket",TsULongToString(ticket));
   r.Int("time_msc",TsUtcMsc(setup,dst_rule));
   r.Int("time_update_msc",TsUtcMsc(MathMax(setup,done),dst_rule));
   r.Text("symbol",OrderGetString(ORDER_SYMBOL));
   r.Text("type",type);
   r.Num("volume",OrderGetDouble(ORDER_VOLUME_CURRENT));
   r.Num("price_open",OrderGetDouble(ORDER_PRICE_OPEN));
   r.Num("price_current",OrderGetDouble(ORDER_PRICE_CURRENT));
   r.Num("sl",OrderGetDouble(ORDER_SL));
   r.Num("tp",OrderGetDouble(ORDER_TP));
   r.Num("profit",0.0);
   r.Num("swap",0.0);
   r.Num("commission",0.0);
   r.Int("magic",OrderGetInteger(ORDER_MAGIC));
   string comment=OrderGetString(ORDER_COMMENT);
   if(comment!="")
      r.Text("comment",comment);
   r.Text("state","pending");
   return(r.error=="");
  }

//--- What became of an order that left the order list, from the history.
#define TS_ORDER_UNKNOWN   0 // not in the history yet, or still being processed: ask again later
#define TS_ORDER_FILLED    1
#define TS_ORDER_CANCELLED 2

//--- An order that left the order list: its `cancelled` / `filled` record, from the history
//--- (HistoryOrderSelect). Returns TS_ORDER_*; position_id: ORDER_POSITION_ID (0 when none).
int TsBuildDoneOrder(TsRecord &r,const ulong ticket,const int dst_rule,long &position_id)
  {
   r.Start(TS_KIND_TRADE);
   position_id=0;
   if(!HistoryOrderSelect(ticket))
     {
      r.error="order "+TsULongToString(ticket)+" is not in the history yet";
      return(TS_ORDER_UNKNOWN);
     }
   long state=HistoryOrderGetInteger(ticket,ORDER_STATE);
   int outcome=TS_ORDER_UNKNOWN;
   if(state==ORDER_STATE_FILLED || state==ORDER_STATE_PARTIAL)
      outcome=TS_ORDER_FILLED;
   else
      if(state==ORDER_STATE_CANCELED || state==ORDER_STATE_EXPIRED || state==ORDER_STATE_REJECTED)
         outcome=TS_ORDER_CANCELLED;
   if(outcome==TS_ORDER_UNKNOWN)
     {
      r.error="order "+TsULongToString(ticket)+" is in state "+IntegerToString(state);
      return(TS_ORDER_UNKNOWN);
     }
   position_id=HistoryOrderGetInteger(ticket,ORDER_POSITION_ID);
   string type=TsOrderTypeName(HistoryOrderGetInteger(ticket,ORDER_TYPE));
   long setup=HistoryOrderGetInteger(ticket,ORDER_TIME_SETUP_MSC);
   long done=HistoryOrderGetInteger(ticket,ORDER_TIME_DONE_MSC);
   if(done<=0)
      done=setup;
   //--- A filled order's current volume is 0; the contract wants the order's volume (> 0).
   double volume=HistoryOrderGetDouble(ticket,ORDER_VOLUME_CURRENT);
   if(volume<=0.0)
      volume=HistoryOrderGetDouble(ticket,ORDER_VOLUME_INITIAL);
   r.Text("ticket",TsULongToString(ticket));
   r.Int("time_msc",TsUtcMsc(setup,dst_rule));
   r.Int("time_update_msc",TsUtcMsc(MathMax(setup,done),dst_rule));
   r.Text("symbol",HistoryOrderGetString(ticket,ORDER_SYMBOL));
   r.Text("type",type=="" ? "buy_limit" : type); // only pending orders are ever reported
   r.Num("volume",volume);
   r.Num("price_open",HistoryOrderGetDouble(ticket,ORDER_PRICE_OPEN));
   r.Num("price_current",HistoryOrderGetDouble(ticket,ORDER_PRICE_CURRENT));
   r.Num("sl",HistoryOrderGetDouble(ticket,ORDER_SL));
   r.Num("tp",HistoryOrderGetDouble(ticket,ORDER_TP));
   r.Num("profit",0.0);
   r.Num("swap",0.0);
   r.Num("commission",0.0);
   r.Int("magic",HistoryOrderGetInteger(ticket,ORDER_MAGIC));
   string comment=HistoryOrderGetString(ticket,ORDER_COMMENT);
   if(comment!="")
      r.Text("comment",comment);
   r.Text("state",outcome==TS_ORDER_FILLED ? "filled" : "cancelled");
   r.Int("time_close_msc",TsUtcMsc(done,dst_rule));
   if(outcome==TS_ORDER_FILLED && position_id>0)
     {
      //--- price_close: the average price of this order's deals (optional; left out when
      //--- they are not in the history yet). HistorySelectByPosition replaces the history
      //--- selection, so it comes after every HistoryOrderGet* above.
      TsDeal deals[];
      int n=TsLoadDeals(position_id,deals);
      double volume_sum=0.0,value=0.0;
      for(int i=0;i<n;i++)
         if(deals[i].order==ticket)
           {
            volume_sum+=deals[i].volume;
            value+=deals[i].volume*deals[i].price;
           }
      if(volume_sum>0.0)
        {
         double price=value/volume_sum;
         int digits=(int)SymbolInfoInteger(r.Value("symbol"),SYMBOL_DIGITS);
         r.Num("price_close",digits>0 ? NormalizeDouble(price,digits) : price);
        }
     }
   if(r.error!="")
      return(TS_ORDER_UNKNOWN);
   return(outcome);
  }

//+------------------------------------------------------------------+
//| A closed position leg from its deals (History.mqh). ticket: the  |
//| key the leg was reported under while open. False (and r.error)   |
//| when the leg is still open or its deals are not in the history.  |
//+------------------------------------------------------------------+
bool TsBuildClosedTrade(TsRecord &r,const long position_id,const ulong ticket,const int dst_rule)
  {
   TsDeal deals[];
   int n=TsLoadDeals(position_id,deals);
   if(n==0)
     {
      r.Start(TS_KIND_TRADE);
      r.error="no deals of position "+IntegerToString(position_id)+" in the history yet";
      return(false);
     }
   int digits=(int)SymbolInfoInteger(deals[0].symbol,SYMBOL_DIGITS);
   return(TsClosedFromDeals(deals,n,ticket,position_id,digits,TsServerOffsetSeconds(),(long)TimeGMT(),dst_rule,r));
  }

#endif // TRADESTATE_COLLECT_MQH
//+------------------------------------------------------------------+
